{{- define "breakglass.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "breakglass.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "breakglass.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "breakglass.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "breakglass.selectorLabels" -}}
app.kubernetes.io/name: {{ include "breakglass.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "breakglass.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "breakglass.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "breakglass.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "breakglass.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "breakglass.webhookSecret" -}}
{{- default (printf "%s-webhook" (include "breakglass.fullname" .)) .Values.webhook.token.existingSecret -}}
{{- end -}}

{{/* The webhook writes as this ServiceAccount (impersonated) when webhook.ownIdentity. */}}
{{- define "breakglass.webhookServiceAccountName" -}}
{{- printf "%s-webhook" (include "breakglass.fullname" .) -}}
{{- end -}}

{{- define "breakglass.webhookOwnIdentity" -}}
{{- if and .Values.webhook.enabled .Values.webhook.ownIdentity .Values.rbac.create -}}true{{- end -}}
{{- end -}}

{{- define "breakglass.leaseName" -}}
{{- include "breakglass.fullname" . -}}
{{- end -}}
