"""Built-in adapters, installed as `jsonl_bridge.adapters`; the registry imports them lazily."""
