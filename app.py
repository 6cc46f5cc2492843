"""CDK app entry (`cdk synth`, `cdk deploy`): instantiates the stacks, nothing else."""

import aws_cdk as cdk
from stacks.dexa_app import build

app = cdk.App()
build(app)
app.synth()
