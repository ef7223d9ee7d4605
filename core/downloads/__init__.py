"""Downloads: a link becomes a verified model file.

``manager`` keeps the tasks (``task``, ``task_store``; ``ledger`` saves and announces them,
``runner`` runs them); ``writer_lock`` lets one process write each partial; ``transfer`` is one
download (``resume_plan`` and ``segments`` plan the byte ranges, ``partial_scan`` reads what a
partial already holds, ``link`` and ``range_checks`` ask for and check ranges, ``body_copy``
writes the bytes, ``hasher`` and ``verify`` check them).
"""
