"""`python -m hotmesh_actors …` runs the `hotmesh` command."""

from hotmesh_actors.cli import main

raise SystemExit(main())
