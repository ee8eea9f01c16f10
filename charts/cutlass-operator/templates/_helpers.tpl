{{/* Names, labels and the operator's RBAC rules, shared by the templates. */}}

{{- define "cutlass-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "cutlass-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "cutlass-operator.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "cutlass-operator.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "cutlass-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cutlass-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "cutlass-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cutlass-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "cutlass-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "cutlass-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: operator
{{- end }}

{{/*
Exactly what the operator does with the Kubernetes API, no more (tests/unit/test_delivery.py
derives the same list from the handlers' registry and compares):
- kopf lists and watches both kinds (its indexes and handlers), and merge-/JSON-patches them for
  its finalizer and its progress annotations;
- the handlers write status through the status subresource (kopf patches `/status` when the CRD
  declares it);
- kopf posts core/v1 Events about the objects it handles (settings.posting).
Not granted because not used: `get` (kopf reads through its watch streams), `update`,
`create`/`delete` on either kind, namespaces and customresourcedefinitions (resource scanning is
disabled), kopfpeerings (the operator runs standalone). Secrets: see rbac.secretAccess.
*/}}
{{- define "cutlass-operator.rules" -}}
- apiGroups: ["cutlass.tech"]
  resources: ["cutlassenvironments", "cutlassregions"]
  verbs: ["list", "watch", "patch"]
- apiGroups: ["cutlass.tech"]
  resources: ["cutlassenvironments/status", "cutlassregions/status"]
  verbs: ["patch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end }}
