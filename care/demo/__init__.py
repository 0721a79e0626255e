"""`care demo`: a believable dealership to try Care Desk on (see ``care.demo.load``)."""

from care.demo.load import DEFAULT_CUSTOMERS, DEFAULT_SEED, DemoResult, load_demo, loaded_demo

__all__ = ["DEFAULT_CUSTOMERS", "DEFAULT_SEED", "DemoResult", "load_demo", "loaded_demo"]
