#!/usr/bin/env python3
"""Reads lit's xunit report and prints one line: "N passed, N failed".

Skipped tests (unsupported on this machine) are listed on the line before, so
the last line is always the summary. Exits 1 if any test failed or no test
ran at all.
"""

import sys
import xml.etree.ElementTree as ElementTree


def main(path):
    try:
        cases = ElementTree.parse(path).getroot().iter("testcase")
    except (OSError, ElementTree.ParseError) as error:
        print(f"no test report ({error})")
        print("0 passed, 1 failed")
        return 1
    passed = failed = skipped = 0
    for case in cases:
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.find("skipped") is not None:
            skipped += 1
        else:
            passed += 1
    if skipped:
        print(f"{skipped} skipped (unsupported here)")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
