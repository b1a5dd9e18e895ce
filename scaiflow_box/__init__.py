"""scaiflow-box: the ScaiFlow backend API as a self-contained on-prem appliance."""

__version__ = "0.1.0"
