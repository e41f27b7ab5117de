from policy_engine.cli import main

raise SystemExit(main())
