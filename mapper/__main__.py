from mapper.cli import entry

entry()
