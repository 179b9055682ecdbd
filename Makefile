# Shortcuts; every target needs root. The commands themselves are in tools/ and bench/.
.PHONY: demo test bench bench-quick package-test deb

demo:
	tools/demo

test:
	tools/test

bench:
	tools/deps demo mptcpize python3-matplotlib
	/usr/bin/python3 bench/run.py

bench-quick:
	tools/deps demo mptcpize python3-matplotlib
	/usr/bin/python3 bench/run.py --quick

package-test:
	tools/package-test

deb:
	dpkg-buildpackage -us -uc -b
