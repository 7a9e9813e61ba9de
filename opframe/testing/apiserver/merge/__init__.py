"""How one object is merged into another: the three patch formats and server-side apply.

``patch`` (JSON merge patch, JSON patch, strategic merge patch), ``strategic`` (patch
strategies, merge keys and list types of the kinds we serve), ``fieldset`` (sets of owned
fields as ``managedFields`` records them) and ``field_manager`` (server-side apply and the
``managedFields`` bookkeeping of every write). Pure functions over JSON values.
"""
