"""project.yml: every step's dependencies and outputs are real, separate paths."""

from pathlib import Path

from weasel.util import load_project_config

ROOT = Path(__file__).parent.parent


def test_workflow_steps_exist_and_paths_are_separate():
    config = load_project_config(ROOT)
    commands = {c["name"]: c for c in config["commands"]}
    for workflow in config["workflows"].values():
        assert set(workflow) <= set(commands)
    produced = {out for c in commands.values() for out in c.get("outputs", [])}
    for command in commands.values():
        for path in command.get("deps", []) + command.get("outputs", []):
            assert ", " not in path and "${" not in path, (command["name"], path)
        for dep in command.get("deps", []):
            assert dep in produced or (ROOT / dep).exists(), (command["name"], dep)
