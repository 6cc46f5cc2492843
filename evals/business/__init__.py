"""The business eval: tau2-bench-style tasks over the demo company, graded by the company's state after approval.

See README.md here for how to run it offline (scripted agents, a regression test of harness and graders) and live.
"""
