"""The opframe reference operator for etcd clusters (built on opframe's public API only)."""
