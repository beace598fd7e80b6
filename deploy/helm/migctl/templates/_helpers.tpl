{{/* The chart's name. */}}
{{- define "migctl.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's full name: the release name when it already says migctl, else RELEASE-migctl. */}}
{{- define "migctl.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "migctl.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The daemon's objects: DaemonSet, ServiceAccount, RBAC, Service. */}}
{{- define "migctl.daemonName" -}}
{{- printf "%s-daemon" (include "migctl.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "migctl.selectorLabels" -}}
app.kubernetes.io/name: {{ include "migctl.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: daemon
{{- end -}}

{{- define "migctl.labels" -}}
{{ include "migctl.selectorLabels" . }}
app.kubernetes.io/part-of: migctl
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "migctl.serviceAccountName" -}}
{{- default (include "migctl.daemonName" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/*
The image: image.repository (with image.digest, else image.tag, else appVersion) when set;
otherwise the reference in image.env, the one place the repository names its image (the
kustomize base reads the same file).
*/}}
{{- define "migctl.image" -}}
{{- if .Values.image.repository -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- else -}}
{{- $ref := "" -}}
{{- range (.Files.Get "image.env" | splitList "\n") -}}
{{- if hasPrefix "IMAGE=" . -}}{{- $ref = trimPrefix "IMAGE=" . | trim -}}{{- end -}}
{{- end -}}
{{- required "image.env has no IMAGE= line and image.repository is empty" $ref -}}
{{- end -}}
{{- end -}}

{{- define "migctl.migPartedConfigMap" -}}
{{- default (printf "%s-mig-parted" (include "migctl.fullname" .)) .Values.migParted.existingConfigMap -}}
{{- end -}}
