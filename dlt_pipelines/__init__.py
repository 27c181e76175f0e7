"""dlt sources: one package per vendor API (fub, rezen, skyslope, qualia), loading raw_<source>."""
