# Shortcuts; every target needs root. The commands themselves are in tools/ and bench/.
.PHONY: demo test vm-test bench bench-quick package-test deb

demo:
	tools/demo

test:
	tools/test

vm-test:
	tools/deps test
	/usr/bin/python3 -m pytest -v -m vm tests/vm

bench:
	tools/deps bench
	tools/build-bpf
	/usr/bin/python3 bench/run.py

bench-quick:
	tools/deps bench
	tools/build-bpf
	/usr/bin/python3 bench/run.py --quick

package-test:
	tools/package-test

deb:
	dpkg-buildpackage -us -uc -b
