"""CDK entry point: `cdk synth` runs this file, and so may a plain `python infra/app.py`.

Both yield the same template because `build_app` applies cdk.json's context itself.
"""

from segflow_infra.application import build_app

if __name__ == "__main__":
    app, _stack = build_app()
    app.synth()
