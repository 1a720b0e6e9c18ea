{{/* Names and labels shared by every template. */}}

{{- define "plume.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "plume.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "plume.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "plume.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels for one component ("scheduler" or "agent"): pass (list . "scheduler"). */}}
{{- define "plume.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "plume.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "plume.schedulerKeySecret" -}}
{{- default (printf "%s-scheduler-key" (include "plume.fullname" .)) .Values.scheduler.keySecretName -}}
{{- end -}}

{{- define "plume.schedulerAddress" -}}
{{- if .Values.agent.schedulerAddress -}}
{{- .Values.agent.schedulerAddress -}}
{{- else -}}
{{- printf "tcp://%s-scheduler.%s.svc:%d" (include "plume.fullname" .) .Release.Namespace (int .Values.scheduler.protocolPort) -}}
{{- end -}}
{{- end -}}

{{/* image: pass (list . .Values.scheduler.image) */}}
{{- define "plume.image" -}}
{{- $root := index . 0 -}}
{{- $img := index . 1 -}}
{{- printf "%s:%s" $img.repository (default $root.Chart.AppVersion $img.tag) -}}
{{- end -}}

{{/* Container security context shared by both processes: nothing beyond what they need. */}}
{{- define "plume.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
