"""Who uses what: device -> pod (kubelet pod-resources), process -> pod (/proc/<pid>/cgroup), pod metadata
(Kubernetes API watch) and the rule that turns one device sample into per-pod rows."""
