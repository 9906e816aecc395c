"""The segflow AWS CDK app, built only from ``segflow.declaration``.

Modules that import ``aws_cdk`` (``application``, ``stack`` and the constructs) start a Node process
when imported; ``asl``, ``paths`` and ``summary`` are plain Python and cheap to import.
"""
