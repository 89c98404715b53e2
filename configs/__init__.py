"""The shipped gin configs, installed as the package ``tfembed.configs``.

This folder is the one copy of the configs; ``setup.cfg`` maps it into the
package, so ``tfembed-train --config mel_mel.gin`` finds them by bare name from
any folder after a plain ``pip install``.
"""
