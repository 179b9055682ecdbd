"""`python3 -m ifupdown_agg.networkd ACTION ...` from a checkout: the same as
`ifagg networkd ACTION ...` (generate, diff, apply, links, post-apply)."""

from ifupdown_agg.networkd.cli import main

raise SystemExit(main())
