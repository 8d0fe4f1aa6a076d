"""An example third-party cnmsim plug-in package: a routed network driver and a table IPAM."""
