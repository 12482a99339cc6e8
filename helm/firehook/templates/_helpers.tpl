{{/*
Names, labels and the shared pieces of every Firehook pod.
Helpers that need a component take a dict: (dict "root" $ "component" "gateway").
*/}}

{{- define "firehook.components" -}}
gateway scheduler consumer
{{- end -}}

{{- define "firehook.containerPort" -}}
8080
{{- end -}}

{{- define "firehook.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "firehook.fullname" -}}
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

{{/* Name of a component's resources: <fullname>-<component>. */}}
{{- define "firehook.componentName" -}}
{{- printf "%s-%s" (include "firehook.fullname" .root | trunc 52 | trimSuffix "-") .component | trimSuffix "-" -}}
{{- end -}}

{{- define "firehook.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels; "component" is optional. */}}
{{- define "firehook.selectorLabels" -}}
app.kubernetes.io/name: {{ include "firehook.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end -}}

{{- define "firehook.labels" -}}
helm.sh/chart: {{ include "firehook.chart" .root }}
{{ include "firehook.selectorLabels" . }}
app.kubernetes.io/version: {{ regexReplaceAll "[^-A-Za-z0-9_.]" (.root.Values.image.tag | default .root.Chart.AppVersion | toString) "_" | trunc 63 | trimAll "-_." | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: firehook
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "firehook.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "firehook.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "firehook.configMapName" -}}
{{- include "firehook.fullname" . -}}
{{- end -}}

{{/* The Secret the long-running pods read: the chart's own or secrets.existingSecret. */}}
{{- define "firehook.secretName" -}}
{{- default (include "firehook.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "firehook.kafkaSasl" -}}
{{- if hasPrefix "SASL_" .Values.kafka.securityProtocol -}}true{{- end -}}
{{- end -}}

{{/*
Deep merge: copies .src into the map .dst in place. Maps merge key by key;
lists and scalars replace; null in .src keeps what .dst has. Unlike sprig's
mergeOverwrite, false and 0 do override.
*/}}
{{- define "firehook.mergeInto" -}}
{{- $dst := .dst -}}
{{- range $key, $value := .src -}}
{{- $current := get $dst $key -}}
{{- if and (kindIs "map" $value) (kindIs "map" $current) -}}
{{- include "firehook.mergeInto" (dict "dst" $current "src" $value) -}}
{{- else if not (kindIs "invalid" $value) -}}
{{- $_ := set $dst $key (deepCopy $value) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Fills .out with the settings of .name ("gateway", "migrations", ...):
values.defaults merged with values.<name>; out.image is values.image merged
with values.<name>.image.
*/}}
{{- define "firehook.settings" -}}
{{- $own := index .root.Values .name | default dict -}}
{{- include "firehook.mergeInto" (dict "dst" .out "src" .root.Values.defaults) -}}
{{- include "firehook.mergeInto" (dict "dst" .out "src" $own) -}}
{{- $image := deepCopy .root.Values.image -}}
{{- include "firehook.mergeInto" (dict "dst" $image "src" (get $own "image" | default dict)) -}}
{{- $_ := set .out "image" $image -}}
{{- end -}}

{{/* Image reference from an image map (registry, repository, tag, digest). */}}
{{- define "firehook.image" -}}
{{- $repository := .image.repository -}}
{{- if .image.registry -}}
{{- $repository = printf "%s/%s" .image.registry .image.repository -}}
{{- end -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (.image.tag | default .root.Chart.AppVersion | toString) -}}
{{- end -}}
{{- end -}}

{{/* FIREHOOK_PUBLIC_BASE_URL: explicit, else from the first ingress host. */}}
{{- define "firehook.publicBaseUrl" -}}
{{- if .Values.config.publicBaseUrl -}}
{{- .Values.config.publicBaseUrl | trimSuffix "/" -}}
{{- else if and .Values.ingress.enabled .Values.ingress.hosts -}}
{{- $host := first .Values.ingress.hosts -}}
{{- $scheme := "http" -}}
{{- range .Values.ingress.tls -}}
{{- if has $host (.hosts | default list) -}}
{{- $scheme = "https" -}}
{{- end -}}
{{- end -}}
{{- printf "%s://%s" $scheme $host -}}
{{- end -}}
{{- end -}}

{{/* The non-secret settings, as a map of environment variables. */}}
{{- define "firehook.configData" -}}
{{- $kafka := .Values.kafka -}}
{{- $servers := $kafka.bootstrapServers -}}
{{- if kindIs "slice" $servers -}}
{{- $servers = join "," $servers -}}
{{- end -}}
FIREHOOK_HOST: {{ .Values.config.listenHost | quote }}
FIREHOOK_PORT: {{ include "firehook.containerPort" . | quote }}
FIREHOOK_LOG_FORMAT: {{ .Values.config.logFormat | quote }}
FIREHOOK_LOG_LEVEL: {{ .Values.config.logLevel | quote }}
{{- with include "firehook.publicBaseUrl" . }}
FIREHOOK_PUBLIC_BASE_URL: {{ . | quote }}
{{- end }}
{{- with .Values.config.trustedProxies }}
FIREHOOK_TRUSTED_PROXIES: {{ join "," . | quote }}
{{- end }}
FIREHOOK_DATABASE_POOL_SIZE: {{ .Values.database.poolSize | int | quote }}
FIREHOOK_DATABASE_MAX_OVERFLOW: {{ .Values.database.maxOverflow | int | quote }}
FIREHOOK_KAFKA_BOOTSTRAP_SERVERS: {{ required "kafka.bootstrapServers is required: the Kafka brokers as host:port (Firehook needs an external Kafka)" $servers | quote }}
FIREHOOK_KAFKA_SECURITY_PROTOCOL: {{ $kafka.securityProtocol | quote }}
{{- if include "firehook.kafkaSasl" . }}
FIREHOOK_KAFKA_SASL_MECHANISM: {{ required (printf "kafka.sasl.mechanism is required with kafka.securityProtocol=%s" $kafka.securityProtocol) $kafka.sasl.mechanism | quote }}
FIREHOOK_KAFKA_SASL_USERNAME: {{ required (printf "kafka.sasl.username is required with kafka.securityProtocol=%s" $kafka.securityProtocol) $kafka.sasl.username | quote }}
{{- end }}
FIREHOOK_KAFKA_ENABLE_IDEMPOTENCE: {{ $kafka.enableIdempotence | toString | quote }}
FIREHOOK_KAFKA_CREATE_TOPICS: {{ $kafka.createTopics | toString | quote }}
FIREHOOK_KAFKA_PARTITIONS: {{ $kafka.partitions | int | quote }}
FIREHOOK_KAFKA_REPLICATION_FACTOR: {{ $kafka.replicationFactor | int | quote }}
FIREHOOK_KAFKA_CONSUMER_GROUP: {{ $kafka.consumerGroup | quote }}
FIREHOOK_TOPIC_FIRES: {{ $kafka.topics.fires | quote }}
FIREHOOK_TOPIC_RUNS: {{ $kafka.topics.runs | quote }}
FIREHOOK_TOPIC_RUN_RESULTS: {{ $kafka.topics.runResults | quote }}
FIREHOOK_TOPIC_FIRES_DLQ: {{ $kafka.topics.firesDlq | quote }}
{{- range $key, $value := .Values.config.extra }}
{{ $key }}: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/* The sensitive settings, base64-encoded, for a Secret's data. */}}
{{- define "firehook.secretData" -}}
{{- $keys := .Values.secrets.keys -}}
{{ $keys.databaseUrl }}: {{ required "database.url is required (postgresql+asyncpg://user:password@host:5432/firehook), or set secrets.existingSecret to a Secret holding it" .Values.database.url | b64enc | quote }}
{{ $keys.encryptionKey }}: {{ required "encryption.key is required (base64 of 32 random bytes: `openssl rand -base64 32`), or set secrets.existingSecret to a Secret holding it" .Values.encryption.key | b64enc | quote }}
{{- if and (include "firehook.kafkaSasl" .) (not .Values.kafka.sasl.passwordSecret.name) }}
{{ $keys.kafkaSaslPassword }}: {{ required (printf "kafka.sasl.password is required with kafka.securityProtocol=%s, or set kafka.sasl.passwordSecret or secrets.existingSecret" .Values.kafka.securityProtocol) .Values.kafka.sasl.password | b64enc | quote }}
{{- end }}
{{- end -}}

{{/* Environment variables read from Secrets; takes (dict "root" $ "secretName" name). */}}
{{- define "firehook.secretEnv" -}}
{{- $keys := .root.Values.secrets.keys -}}
- name: FIREHOOK_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ $keys.databaseUrl }}
- name: FIREHOOK_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ $keys.encryptionKey }}
{{- if include "firehook.kafkaSasl" .root }}
{{- $passwordSecret := .root.Values.kafka.sasl.passwordSecret }}
- name: FIREHOOK_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      {{- if $passwordSecret.name }}
      name: {{ $passwordSecret.name }}
      key: {{ $passwordSecret.key }}
      {{- else }}
      name: {{ .secretName }}
      key: {{ $keys.kafkaSaslPassword }}
      {{- end }}
{{- end }}
{{- end -}}

{{/* Pod-level fields every Firehook pod shares; takes (dict "root" $ "s" settings). */}}
{{- define "firehook.podCommon" -}}
serviceAccountName: {{ .serviceAccountName | default (include "firehook.serviceAccountName" .root) }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
automountServiceAccountToken: false
# Service links would inject FIREHOOK_*_PORT variables that collide with settings.
enableServiceLinks: false
{{- with .s.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .s.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .s.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .s.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .s.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - name: tmp
    emptyDir:
      {{- with .s.tmpVolume.medium }}
      medium: {{ . }}
      {{- end }}
      {{- with .s.tmpVolume.sizeLimit }}
      sizeLimit: {{ . }}
      {{- end }}
  {{- with .s.extraVolumes }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/* Container fields every Firehook container shares; takes (dict "root" $ "s" settings). */}}
{{- define "firehook.containerCommon" -}}
image: {{ include "firehook.image" (dict "root" .root "image" .s.image) }}
imagePullPolicy: {{ .s.image.pullPolicy }}
{{- with .s.resources }}
resources:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .s.securityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
  {{- with .s.extraVolumeMounts }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/* Environment of a container that runs Firehook; takes (dict "root" $ "s" settings "secretName" name). */}}
{{- define "firehook.containerEnv" -}}
env:
  {{- include "firehook.secretEnv" . | nindent 2 }}
  {{- with .s.env }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/* Annotations that roll the pods when settings change. */}}
{{- define "firehook.checksums" -}}
checksum/config: {{ include "firehook.configData" . | sha256sum }}
{{- if not .Values.secrets.existingSecret }}
checksum/secret: {{ include "firehook.secretData" . | sha256sum }}
{{- end }}
{{- end -}}

{{/* An integer or a percentage string, as YAML. */}}
{{- define "firehook.intOrPercent" -}}
{{- if kindIs "string" . -}}{{ . | quote }}{{- else -}}{{ . | int }}{{- end -}}
{{- end -}}
