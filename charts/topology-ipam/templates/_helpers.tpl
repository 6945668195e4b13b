{{/* The chart name, or nameOverride. */}}
{{- define "topology-ipam.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object name: <release>-<chart>, or the release name alone when it already contains
the chart name. Cluster-scoped objects carry it too, so two releases never collide. Kept to 40 characters
so that the longest suffix ("-operator-events") still fits a 63-character label value.
*/}}
{{- define "topology-ipam.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "topology-ipam.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels of one component: include with (list $ "operator"). */}}
{{- define "topology-ipam.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "topology-ipam.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* Every object's labels: include with (list $ "component"). */}}
{{- define "topology-ipam.labels" -}}
{{- $root := index . 0 -}}
helm.sh/chart: {{ include "topology-ipam.chart" $root }}
{{ include "topology-ipam.selectorLabels" . }}
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
app.kubernetes.io/part-of: topology-ipam
{{- with $root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Names shared between templates and the operator's settings. */}}
{{- define "topology-ipam.operatorName" -}}{{ include "topology-ipam.fullname" . }}-operator{{- end }}
{{- define "topology-ipam.cniName" -}}{{ include "topology-ipam.fullname" . }}-cni{{- end }}
{{- define "topology-ipam.webhookService" -}}{{ include "topology-ipam.fullname" . }}-webhook{{- end }}
{{- define "topology-ipam.webhookConfiguration" -}}{{ include "topology-ipam.fullname" . }}{{- end }}
{{/* The operator creates this Secret (its webhook CA): <WEBHOOK_SERVICE>-ca. */}}
{{- define "topology-ipam.caSecret" -}}{{ include "topology-ipam.webhookService" . }}-ca{{- end }}
{{- define "topology-ipam.leaseName" -}}{{ include "topology-ipam.operatorName" . }}{{- end }}

{{/*
KUBERNETES_SERVICE_HOST and _PORT from .Values.apiServer, in place of the kubernetes Service's address the
kubelet sets (it leads nowhere without kube-proxy); nothing when apiServer is empty.
*/}}
{{- define "topology-ipam.apiServerEnv" -}}
{{- with .Values.apiServer }}
{{- $url := urlParse . }}
- name: KUBERNETES_SERVICE_HOST
  value: {{ $url.hostname | quote }}
- name: KUBERNETES_SERVICE_PORT
  value: {{ regexFind "[0-9]+$" (regexFind ":[0-9]+$" $url.host | default ":443") | quote }}
{{- end }}
{{- end }}

{{/* image reference: include with (list $ .Values.operator.image). */}}
{{- define "topology-ipam.image" -}}
{{- $root := index . 0 -}}
{{- $image := index . 1 -}}
{{- printf "%s:%s" $image.repository (default $root.Chart.AppVersion $image.tag) }}
{{- end }}

{{/* Where the agent listens and the forwarder dials unless the conflist says otherwise (agent/protocol.ts). */}}
{{- define "topology-ipam.defaultAgentSocket" -}}/run/topology-ipam/agent.sock{{- end }}

{{/*
The conflist the installer writes, as JSON: the main plugin with our ipam section, then the chained ones.
The ipam section names the agent's socket only when it is not the default, so a default install's
conflist holds nothing but the values' own settings, and link_local_gateway for ptp unless cni.ipam
says otherwise: ptp needs a gateway, bridge must not get one (an override of the plugin alone works).
With link_local_gateway, topology-ipam-routes follows the main plugin: it adds the pods' default
routes via the gateway, which ptp puts on-link only after it has added the IPAM's routes.
*/}}
{{- define "topology-ipam.conflist" -}}
{{- $ipam := merge (dict "type" "topology-ipam") (deepCopy .Values.cni.ipam) }}
{{- if and (eq .Values.cni.conflist.plugin.type "ptp") (not (hasKey $ipam "link_local_gateway")) }}
{{- $_ := set $ipam "link_local_gateway" true }}
{{- end }}
{{- if ne .Values.cni.agent.socket (include "topology-ipam.defaultAgentSocket" .) }}
{{- $_ := set $ipam "agent_socket" .Values.cni.agent.socket }}
{{- end }}
{{- $main := merge (dict "ipam" $ipam) (deepCopy .Values.cni.conflist.plugin) }}
{{- $plugins := deepCopy .Values.cni.conflist.chained }}
{{- if $ipam.link_local_gateway }}
{{- $plugins = prepend $plugins (dict "type" "topology-ipam-routes") }}
{{- end }}
{{- $plugins = prepend $plugins $main }}
{{- dict "cniVersion" .Values.cni.conflist.cniVersion "name" .Values.cni.conflist.name "plugins" $plugins | toJson }}
{{- end }}

{{/* A pool name part from any string: lowercase, runs of other characters as "-". */}}
{{- define "topology-ipam.namePart" -}}
{{- . | lower | regexReplaceAll "[^a-z0-9]+" "-" | trimAll "-" }}
{{- end }}
