#!/usr/bin/python3
"""Run every tests/integration/test_*.py function named test_* against the
built daemon. Prints one line per test and "integration: N passed, N failed".
usage: run.py [substring-filter]
"""
import importlib.util
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def main():
    filt = sys.argv[1] if len(sys.argv) > 1 else ""
    passed = failed = 0
    for fn in sorted(os.listdir(HERE)):
        if not (fn.startswith("test_") and fn.endswith(".py")):
            continue
        spec = importlib.util.spec_from_file_location(fn[:-3], os.path.join(HERE, fn))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        for name in sorted(n for n in dir(mod) if n.startswith("test_")):
            full = f"{fn[:-3]}.{name}"
            if filt not in full:
                continue
            t0 = time.time()
            try:
                getattr(mod, name)()
                passed += 1
                print(f"  ok   {full} ({time.time() - t0:.1f} s)", flush=True)
            except Exception:
                failed += 1
                print(f"  FAIL {full} ({time.time() - t0:.1f} s)", flush=True)
                print("      " + traceback.format_exc().replace("\n", "\n      "), flush=True)
    label = os.environ.get("ICEHUB_LABEL", "integration")
    print(f"{label}: {passed} passed, {failed} failed")
    res = os.environ.get("ICEHUB_RESULTS")
    if res:
        with open(res, "a") as f:
            f.write(f"{label} {passed} {failed}\n")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
