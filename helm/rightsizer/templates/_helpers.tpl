{{/* Names, labels and shared fragments. */}}

{{- define "rightsizer.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Object name prefix: <release>-rightsizer, or the release name when it already says rightsizer. */}}
{{- define "rightsizer.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "rightsizer.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Standard labels (https://helm.sh/docs/chart_best_practices/labels/) on every object. */}}
{{- define "rightsizer.labels" -}}
helm.sh/chart: {{ include "rightsizer.chart" . }}
{{ include "rightsizer.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: rightsizer
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "rightsizer.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rightsizer.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Per-component labels: call with (dict "ctx" $ "component" "agent"). */}}
{{- define "rightsizer.componentLabels" -}}
{{ include "rightsizer.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "rightsizer.componentSelectorLabels" -}}
{{ include "rightsizer.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "rightsizer.agentName" -}}
{{- printf "%s-agent" (include "rightsizer.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "rightsizer.reportName" -}}
{{- printf "%s-report" (include "rightsizer.fullname" .) | trunc 52 | trimSuffix "-" }}
{{- end }}

{{- define "rightsizer.agentServiceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "rightsizer.agentName" .) .Values.serviceAccount.agent.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.agent.name }}
{{- end }}
{{- end }}

{{- define "rightsizer.reportServiceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "rightsizer.reportName" .) .Values.serviceAccount.report.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.report.name }}
{{- end }}
{{- end }}

{{- define "rightsizer.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The dataset root both workloads are given: the S3 prefix or the PVC mount path. */}}
{{- define "rightsizer.sink" -}}
{{- if eq .Values.sink.type "s3" }}
{{- required "sink.s3.uri is required when sink.type is s3 (e.g. s3://my-bucket/rightsizer)" .Values.sink.s3.uri | trimSuffix "/" }}
{{- else }}
{{- .Values.sink.pvc.mountPath | trimSuffix "/" }}
{{- end }}
{{- end }}

{{- define "rightsizer.pvcName" -}}
{{- if .Values.sink.pvc.create }}
{{- printf "%s-data" (include "rightsizer.fullname" .) }}
{{- else }}
{{- required "sink.pvc.existingClaim is required when sink.pvc.create is false" .Values.sink.pvc.existingClaim }}
{{- end }}
{{- end }}

{{- define "rightsizer.priorityClassName" -}}
{{- if .Values.agent.priorityClassName }}
{{- .Values.agent.priorityClassName }}
{{- else if .Values.agent.priorityClass.create }}
{{- include "rightsizer.agentName" . }}
{{- end }}
{{- end }}

{{- define "rightsizer.notifySecretName" -}}
{{- if .Values.report.notify.existingSecret }}
{{- .Values.report.notify.existingSecret }}
{{- else if .Values.report.notify.url }}
{{- printf "%s-notify" (include "rightsizer.fullname" .) }}
{{- end }}
{{- end }}

{{/* Service-account annotations: the IRSA role (if any), then the per-account extras (which win, so
     one account can be given a different role). */}}
{{- define "rightsizer.serviceAccountAnnotations" -}}
{{- $annotations := dict }}
{{- if .ctx.Values.serviceAccount.irsaRoleArn }}
{{- $_ := set $annotations "eks.amazonaws.com/role-arn" .ctx.Values.serviceAccount.irsaRoleArn }}
{{- end }}
{{- $annotations = mergeOverwrite $annotations (.extra | default dict) }}
{{- with $annotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* report.automountServiceAccountToken, or when unset: true only for an S3 sink (cloud credentials). */}}
{{- define "rightsizer.reportAutomountToken" -}}
{{- if kindIs "bool" .Values.report.automountServiceAccountToken }}
{{- .Values.report.automountServiceAccountToken }}
{{- else }}
{{- or (eq .Values.sink.type "s3") (include "rightsizer.reportListsAutoscalers" . | eq "true") }}
{{- end }}
{{- end }}

{{/* The report job lists HPAs and ScaledObjects (recommend --list-autoscalers) and has RBAC for it. */}}
{{- define "rightsizer.reportListsAutoscalers" -}}
{{- and .Values.report.enabled (dig "autoscalers" "enabled" true .Values.report) }}
{{- end }}
