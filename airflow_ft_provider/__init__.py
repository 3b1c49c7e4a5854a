"""Apache Airflow provider: cancel fine-tuning jobs and confirm how they ended.

Import what you need from the submodules (``operators``, ``sensors``, ``hooks``...):
this package's ``__init__`` stays empty so that DAG files pay only for what they use.
"""

__version__ = "0.1.0"
