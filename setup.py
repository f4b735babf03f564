"""Build hook: a wheel carries the workflow (Snakefile, workflow/, profiles/, config/) inside the
package, in rootpipe/_bundle/, so an installed rootpipe finds it (rootpipe/resources.py). The
repository keeps its top-level layout; pyproject.toml holds everything else."""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

BUNDLE = ["Snakefile", "workflow", "profiles", "config/config.yaml", "config/README.md"]


class BuildWithWorkflow(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):  # an editable install reads the checkout itself
            return
        here = Path(__file__).resolve().parent
        target = Path(self.build_lib) / "rootpipe" / "_bundle"
        for name in BUNDLE:
            src, dst = here / name, target / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dst, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(src, dst)


setup(cmdclass={"build_py": BuildWithWorkflow})
