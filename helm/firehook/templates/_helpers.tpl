{{/*
Names, labels and the shared pieces of every Firehook pod.
Helpers that need a component take a dict: (dict "root" $ "component" "gateway").
*/}}

{{- define "firehook.components" -}}
{{- if include "firehook.embedded" . -}}
gateway
{{- else -}}
gateway scheduler consumer
{{- end -}}
{{- end -}}

{{/* "true" in embedded mode (one `firehook dev` pod on SQLite), empty otherwise. */}}
{{- define "firehook.embedded" -}}
{{- if eq .Values.mode "embedded" -}}true{{- end -}}
{{- end -}}

{{/* A component's replicas; null means 1 in embedded mode, 2 otherwise. Takes (dict "root" $ "s" settings). */}}
{{- define "firehook.replicas" -}}
{{- if kindIs "invalid" .s.replicas -}}
{{- ternary 1 2 (eq (include "firehook.embedded" .root) "true") -}}
{{- else -}}
{{- .s.replicas | int -}}
{{- end -}}
{{- end -}}

{{/* The PersistentVolumeClaim of embedded mode. */}}
{{- define "firehook.dataClaimName" -}}
{{- .Values.embedded.persistence.existingClaim | default (printf "%s-data" (include "firehook.fullname" .)) -}}
{{- end -}}

{{/* Where embedded mode keeps its SQLite database and, unless given, its encryption key. */}}
{{- define "firehook.dataDir" -}}
/var/lib/firehook
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
{{- $registry := .root.Values.global.imageRegistry | default .image.registry -}}
{{- if $registry -}}
{{- $repository = printf "%s/%s" $registry .image.repository -}}
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
{{- if include "firehook.embedded" . }}
FIREHOOK_DATABASE_URL: {{ printf "sqlite:///%s/firehook.db" (include "firehook.dataDir" .) | quote }}
FIREHOOK_SECRET_KEY_FILE: {{ printf "%s/firehook.key" (include "firehook.dataDir" .) | quote }}
{{- else }}
{{- $kafka := .Values.kafka }}
{{- $servers := $kafka.bootstrapServers }}
{{- if kindIs "slice" $servers }}
{{- $servers = join "," $servers }}
{{- end }}
FIREHOOK_DATABASE_POOL_SIZE: {{ .Values.database.poolSize | int | quote }}
FIREHOOK_DATABASE_MAX_OVERFLOW: {{ .Values.database.maxOverflow | int | quote }}
FIREHOOK_KAFKA_BOOTSTRAP_SERVERS: {{ $servers | quote }}
FIREHOOK_KAFKA_SECURITY_PROTOCOL: {{ $kafka.securityProtocol | quote }}
{{- if include "firehook.kafkaSasl" . }}
FIREHOOK_KAFKA_SASL_MECHANISM: {{ $kafka.sasl.mechanism | quote }}
FIREHOOK_KAFKA_SASL_USERNAME: {{ $kafka.sasl.username | quote }}
{{- end }}
{{- if $kafka.tls.caSecret.name }}
FIREHOOK_KAFKA_SSL_CAFILE: {{ printf "%s/ca/%s" (include "firehook.kafkaTlsDir" .) $kafka.tls.caSecret.key | quote }}
{{- end }}
{{- if $kafka.tls.clientCertSecret.name }}
FIREHOOK_KAFKA_SSL_CERTFILE: {{ printf "%s/client/%s" (include "firehook.kafkaTlsDir" .) $kafka.tls.clientCertSecret.certKey | quote }}
FIREHOOK_KAFKA_SSL_KEYFILE: {{ printf "%s/client/%s" (include "firehook.kafkaTlsDir" .) $kafka.tls.clientCertSecret.keyKey | quote }}
{{- end }}
FIREHOOK_KAFKA_ENABLE_IDEMPOTENCE: {{ $kafka.enableIdempotence | toString | quote }}
FIREHOOK_KAFKA_CREATE_TOPICS: {{ $kafka.createTopics | toString | quote }}
FIREHOOK_KAFKA_PARTITIONS: {{ $kafka.partitions | int | quote }}
FIREHOOK_KAFKA_REPLICATION_FACTOR: {{ $kafka.replicationFactor | int | quote }}
FIREHOOK_KAFKA_CONSUMER_GROUP: {{ $kafka.consumerGroup | quote }}
FIREHOOK_KAFKA_SESSION_TIMEOUT_MS: {{ $kafka.sessionTimeoutMs | int | quote }}
FIREHOOK_KAFKA_HEARTBEAT_INTERVAL_MS: {{ $kafka.heartbeatIntervalMs | int | quote }}
FIREHOOK_KAFKA_PUBLISH_TIMEOUT_SEC: {{ $kafka.publishTimeoutSec | toString | quote }}
FIREHOOK_TOPIC_FIRES: {{ $kafka.topics.fires | quote }}
FIREHOOK_TOPIC_RUNS: {{ $kafka.topics.runs | quote }}
FIREHOOK_TOPIC_RUN_RESULTS: {{ $kafka.topics.runResults | quote }}
FIREHOOK_TOPIC_FIRES_DLQ: {{ $kafka.topics.firesDlq | quote }}
FIREHOOK_SCHEDULER_RESYNC_SEC: {{ .Values.scheduler.resyncSec | toString | quote }}
{{- end }}
{{- $config := .Values.config }}
{{- $tuning := dict
  "FIREHOOK_HTTP_MAX_HEADER_BYTES" ($config.http.maxHeaderBytes | int)
  "FIREHOOK_HTTP_HEADER_TIMEOUT_SEC" $config.http.headerTimeoutSec
  "FIREHOOK_HTTP_BODY_TIMEOUT_SEC" $config.http.bodyTimeoutSec
  "FIREHOOK_HTTP_KEEPALIVE_TIMEOUT_SEC" $config.http.keepaliveTimeoutSec
  "FIREHOOK_HTTP_MAX_CONNECTIONS" ($config.http.maxConnections | int)
  "FIREHOOK_CONSOLE_ENABLED" $config.consoleEnabled
  "FIREHOOK_JSON_MAX_DEPTH" ($config.jsonMaxDepth | int)
  "FIREHOOK_WEBHOOK_DELIVERIES_KEPT" ($config.webhookDeliveries.kept | int)
  "FIREHOOK_WEBHOOK_DELIVERY_BODY_BYTES" ($config.webhookDeliveries.bodyBytes | int)
  "FIREHOOK_OCCURRENCE_RETENTION_DAYS" $config.occurrenceRetentionDays }}
{{- /* config.extra wins over a named setting it repeats. */}}
{{- range $key, $value := merge (dict) $config.extra $tuning }}
{{ $key }}: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/*
Seconds the process has after SIGTERM: the grace period less the preStop sleep
and a 2-second margin for the kubelet's SIGKILL; takes the component settings.
*/}}
{{- define "firehook.shutdownTimeout" -}}
{{- sub (sub (.terminationGracePeriodSeconds | int) (.preStopSleepSeconds | int)) 2 -}}
{{- end -}}

{{/* Where the Kafka CA and client certificate Secrets are mounted. */}}
{{- define "firehook.kafkaTlsDir" -}}
/etc/firehook/kafka-tls
{{- end -}}

{{/* The sensitive settings, base64-encoded, for a Secret's data. */}}
{{- define "firehook.secretData" -}}
{{- $keys := .Values.secrets.keys -}}
{{- if not (include "firehook.embedded" .) }}
{{ $keys.databaseUrl }}: {{ .Values.database.url | b64enc | quote }}
{{- end }}
{{- with .Values.encryption.key }}
{{ $keys.encryptionKey }}: {{ . | b64enc | quote }}
{{- end }}
{{- if and (include "firehook.kafkaSasl" .) (not .Values.kafka.sasl.passwordSecret.name) }}
{{ $keys.kafkaSaslPassword }}: {{ .Values.kafka.sasl.password | b64enc | quote }}
{{- end }}
{{- end -}}

{{/* Environment variables read from Secrets; takes (dict "root" $ "secretName" name). */}}
{{- define "firehook.secretEnv" -}}
{{- $keys := .root.Values.secrets.keys -}}
{{- $embedded := include "firehook.embedded" .root -}}
{{- if not $embedded }}
- name: FIREHOOK_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ $keys.databaseUrl }}
{{- end }}
{{- if or (not $embedded) .root.Values.encryption.key .root.Values.secrets.existingSecret }}
- name: FIREHOOK_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ $keys.encryptionKey }}
{{- end }}
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
  {{- $tls := .root.Values.kafka.tls }}
  {{- if and (not (include "firehook.embedded" .root)) $tls.caSecret.name }}
  - name: kafka-ca
    secret:
      secretName: {{ $tls.caSecret.name }}
      items:
        - key: {{ $tls.caSecret.key }}
          path: {{ $tls.caSecret.key }}
  {{- end }}
  {{- if and (not (include "firehook.embedded" .root)) $tls.clientCertSecret.name }}
  - name: kafka-client-cert
    secret:
      secretName: {{ $tls.clientCertSecret.name }}
      items:
        - key: {{ $tls.clientCertSecret.certKey }}
          path: {{ $tls.clientCertSecret.certKey }}
        - key: {{ $tls.clientCertSecret.keyKey }}
          path: {{ $tls.clientCertSecret.keyKey }}
  {{- end }}
  {{- with .dataClaim }}
  - name: data
    persistentVolumeClaim:
      claimName: {{ . }}
  {{- end }}
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
  {{- $tls := .root.Values.kafka.tls }}
  {{- if and (not (include "firehook.embedded" .root)) $tls.caSecret.name }}
  - name: kafka-ca
    mountPath: {{ include "firehook.kafkaTlsDir" .root }}/ca
    readOnly: true
  {{- end }}
  {{- if and (not (include "firehook.embedded" .root)) $tls.clientCertSecret.name }}
  - name: kafka-client-cert
    mountPath: {{ include "firehook.kafkaTlsDir" .root }}/client
    readOnly: true
  {{- end }}
  {{- with .s.extraVolumeMounts }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/* Environment of a container that runs Firehook; takes (dict "root" $ "s" settings "secretName" name). */}}
{{- define "firehook.containerEnv" -}}
env:
  {{- with include "firehook.secretEnv" . | trim }}
  {{- . | nindent 2 }}
  {{- end }}
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
