"""CDK stacks for the cloud shape of Dexa. They import only pure modules of dexa (schema constants and the ASL)."""

import os as _os

# jsii prints an end-of-life banner on Node 20 (aws-modal.md §5); it is noise in test and CI output.
_os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
