import sys, io
sys.path.insert(0, "/tmp/dossier-lab")
from exp3_sign import validate
for f in sys.argv[1:]:
    try:
        res, st = validate(open(f, "rb").read())
        print(f, {k: res[k] for k in ("intact", "valid", "trusted", "bottom_line", "coverage")})
    except Exception as e:
        print(f, "EXC", type(e).__name__, str(e)[:200])
