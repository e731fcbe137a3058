"""The program `pulumi up` runs: settings -> components -> the outputs contract (see components/program/)."""

from components.program import engine, outputs, stack

with engine.input_errors_reported():
    outputs.export(stack.build(engine.engine_settings()))
