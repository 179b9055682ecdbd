from ifupdown_agg.cli.main import main

raise SystemExit(main())
