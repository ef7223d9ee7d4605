"""ComfyUI adapters: graph nodes, REST routes and the event bridge (thin layers over core/)."""
NODE_CLASS_MAPPINGS: dict = {}
NODE_DISPLAY_NAME_MAPPINGS: dict = {}
