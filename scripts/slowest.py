"""Print the N slowest test cases of one or more JUnit XML reports, then the sum of their counts
as the closing line: ``scripts/slowest.py N report.xml ...`` (used by scripts/run_tests.sh)."""
import sys
import xml.etree.ElementTree as ET


def main(argv) -> int:
    n, paths = int(argv[0]), argv[1:]
    cases, totals = [], {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for path in paths:
        try:
            root = ET.parse(path).getroot()
        except (OSError, ET.ParseError) as err:
            print(f"no report in {path} ({err})")
            continue
        for suite in root.iter("testsuite"):
            for key in totals:
                totals[key] += int(suite.get(key, 0))
        for case in root.iter("testcase"):
            name = f"{case.get('classname', '')}::{case.get('name', '')}"
            cases.append((float(case.get("time", 0)), name))
    print(f"\n{'=' * 30} the {n} slowest tests {'=' * 30}")
    for seconds, name in sorted(cases, reverse=True)[:n]:
        print(f"{seconds:8.2f}s  {name}")
    passed = totals["tests"] - totals["failures"] - totals["errors"] - totals["skipped"]
    print(f"\nall: {passed} passed, {totals['failures'] + totals['errors']} failed, {totals['skipped']} skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
