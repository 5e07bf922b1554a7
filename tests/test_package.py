"""The library stands alone: ``geo`` imports without Flask (the web app and the CLI live
outside it)."""

import subprocess
import sys


def test_geo_imports_with_flask_blocked():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('flask', 'werkzeug', 'click'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import geo, geo.network, geo.siting, geo.maps, geo.finder\n"
        "assert not any(m.split('.')[0] in ('flask', 'werkzeug', 'click') for m in sys.modules)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
