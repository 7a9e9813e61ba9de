"""What the embedded API server stores and how writes change it (kube-apiserver's ``registry``).

``resources`` (the served resources: built-ins plus CRDs), ``resource_type`` (one served
resource), ``storage`` (one global resourceVersion, bounded watch history), ``writes``
(create, update, delete shared by every kind), ``crds`` (CRD serving and Established),
``gc`` (garbage collection and the other in-process controllers), ``soon`` (how those
controllers run their queued work after a write), ``selectors`` (label and field selectors).
"""
