"""Provider clients behind the managed servers: the embedded demo org and real REST providers."""
