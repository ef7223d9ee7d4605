"""Which settings there are: data only and no imports, so that the command line can list them
(and know the defaults) without loading the settings machinery."""

SECRET_KEYS = ("civitai_api_key", "huggingface_token")

#: whole-number settings: name -> (default, lowest, highest); the order is that of the settings view
INT_RANGES = {
    "max_concurrent_downloads": (2, 1, 8),
    "connections_per_download": (4, 1, 16),
    "civitai_nsfw_level": (1, 1, 32),
    "trash_days": (30, 0, 3650),  # deleted models older than this leave the trash; 0 keeps them
}

#: settings holding a list of host names (given as a JSON list or a comma/space separated string)
HOST_LISTS = ("workflow_allowed_hosts",)
