"""What `import layerinv` costs: neither torch nor matplotlib is loaded."""
import subprocess
import sys


def test_import_layerinv_loads_neither_torch_nor_matplotlib():
    code = ("import sys, layerinv, layerinv.datasets, layerinv.compress, layerinv.io, layerinv.cli; "
            "layerinv.cli.build_parser(); "
            "bad = [m for m in ('torch', 'matplotlib') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
