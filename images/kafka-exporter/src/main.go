// Ours: a STAND-IN for danielqsj/kafka_exporter, for machines where that module cannot be fetched.
//
// The Go module proxy reachable here refuses github.com/danielqsj/kafka_exporter (403 for every version),
// so this small exporter takes its place. It speaks to Kafka with the same client library (IBM/sarama)
// and exports, under kafka_exporter's names, help texts and labels, the metrics the platform's dashboards
// and alerts read (components/metrics.py: KAFKA_EXPORTER) and a few neighbours:
//
//	kafka_brokers, kafka_topic_partitions, kafka_topic_partition_{current,oldest}_offset,
//	kafka_topic_partition_{leader,replicas,in_sync_replica,leader_is_preferred,under_replicated_partition},
//	kafka_consumergroup_{current_offset,lag}[_sum], kafka_consumergroup_members
//
// Flags are kafka_exporter's (`--kafka.server` repeatable, `--kafka.version`, `--web.listen-address`,
// `--web.telemetry-path`, topic and group filters, and its TLS flags: `--tls.enabled`, `--tls.server-name`,
// `--tls.ca-file`, `--tls.cert-file`, `--tls.key-file`, `--tls.insecure-skip-tls-verify` for the Kafka
// connection, `--server.tls.enabled`, `--server.tls.mutual-auth-enabled`, `--server.tls.ca-file`,
// `--server.tls.cert-file`, `--server.tls.key-file` for the web server); /healthz answers "ok". Everything
// else kafka_exporter offers (SASL, ZooKeeper lag, per-broker offsets, ...) is absent: the platform uses
// none of it.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "kafka"

type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	*s = append(*s, v)
	return nil
}

func desc(subsystem, name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, subsystem, name), help, labels, nil)
}

var (
	clusterBrokers                     = desc("", "brokers", "Number of Brokers in the Kafka Cluster.")
	topicPartitions                    = desc("topic", "partitions", "Number of partitions for this Topic", "topic")
	topicCurrentOffset                 = desc("topic", "partition_current_offset", "Current Offset of a Broker at Topic/Partition", "topic", "partition")
	topicOldestOffset                  = desc("topic", "partition_oldest_offset", "Oldest Offset of a Broker at Topic/Partition", "topic", "partition")
	topicPartitionLeader               = desc("topic", "partition_leader", "Leader Broker ID of this Topic/Partition", "topic", "partition")
	topicPartitionReplicas             = desc("topic", "partition_replicas", "Number of Replicas for this Topic/Partition", "topic", "partition")
	topicPartitionInSyncReplicas       = desc("topic", "partition_in_sync_replica", "Number of In-Sync Replicas for this Topic/Partition", "topic", "partition")
	topicPartitionUsesPreferredReplica = desc("topic", "partition_leader_is_preferred", "1 if Topic/Partition is using the Preferred Broker", "topic", "partition")
	topicUnderReplicatedPartition      = desc("topic", "partition_under_replicated_partition", "1 if Topic/Partition is under Replicated", "topic", "partition")
	consumergroupCurrentOffset         = desc("consumergroup", "current_offset", "Current Offset of a ConsumerGroup at Topic/Partition", "consumergroup", "topic", "partition")
	consumergroupCurrentOffsetSum      = desc("consumergroup", "current_offset_sum", "Current Offset of a ConsumerGroup at Topic for all partitions", "consumergroup", "topic")
	consumergroupLag                   = desc("consumergroup", "lag", "Current Approximate Lag of a ConsumerGroup at Topic/Partition", "consumergroup", "topic", "partition")
	consumergroupLagSum                = desc("consumergroup", "lag_sum", "Current Approximate Lag of a ConsumerGroup at Topic for all partitions", "consumergroup", "topic")
	consumergroupMembers               = desc("consumergroup", "members", "Amount of members in a consumer group", "consumergroup")
)

type filters struct {
	topic, topicExclude, group, groupExclude *regexp.Regexp
}

func (f filters) topicWanted(name string) bool {
	return f.topic.MatchString(name) && !f.topicExclude.MatchString(name)
}

func (f filters) groupWanted(name string) bool {
	return f.group.MatchString(name) && !f.groupExclude.MatchString(name)
}

// Exporter collects on every scrape, one scrape at a time (as kafka_exporter does without its cache).
type Exporter struct {
	mu      sync.Mutex
	client  sarama.Client
	admin   sarama.ClusterAdmin
	filters filters
}

func (e *Exporter) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		clusterBrokers, topicPartitions, topicCurrentOffset, topicOldestOffset, topicPartitionLeader,
		topicPartitionReplicas, topicPartitionInSyncReplicas, topicPartitionUsesPreferredReplica,
		topicUnderReplicatedPartition, consumergroupCurrentOffset, consumergroupCurrentOffsetSum,
		consumergroupLag, consumergroupLagSum, consumergroupMembers,
	} {
		ch <- d
	}
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, value float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, value, labels...)
}

func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.client.RefreshMetadata(); err != nil {
		log.Printf("cannot refresh metadata: %v", err)
	}
	gauge(ch, clusterBrokers, float64(len(e.client.Brokers())))

	topics, err := e.client.Topics()
	if err != nil {
		log.Printf("cannot list topics: %v", err)
		return
	}
	newest := map[string]map[int32]int64{}
	for _, topic := range topics {
		if !e.filters.topicWanted(topic) {
			continue
		}
		partitions, err := e.client.Partitions(topic)
		if err != nil {
			log.Printf("cannot list partitions of %s: %v", topic, err)
			continue
		}
		gauge(ch, topicPartitions, float64(len(partitions)), topic)
		newest[topic] = map[int32]int64{}
		for _, partition := range partitions {
			p := strconv.FormatInt(int64(partition), 10)
			if leader, err := e.client.Leader(topic, partition); err == nil {
				gauge(ch, topicPartitionLeader, float64(leader.ID()), topic, p)
			}
			if offset, err := e.client.GetOffset(topic, partition, sarama.OffsetNewest); err == nil {
				newest[topic][partition] = offset
				gauge(ch, topicCurrentOffset, float64(offset), topic, p)
			} else {
				log.Printf("cannot get the newest offset of %s/%s: %v", topic, p, err)
			}
			if offset, err := e.client.GetOffset(topic, partition, sarama.OffsetOldest); err == nil {
				gauge(ch, topicOldestOffset, float64(offset), topic, p)
			}
			replicas, errReplicas := e.client.Replicas(topic, partition)
			if errReplicas == nil {
				gauge(ch, topicPartitionReplicas, float64(len(replicas)), topic, p)
			}
			isr, errISR := e.client.InSyncReplicas(topic, partition)
			if errISR == nil {
				gauge(ch, topicPartitionInSyncReplicas, float64(len(isr)), topic, p)
			}
			if leader, err := e.client.Leader(topic, partition); err == nil && errReplicas == nil && len(replicas) > 0 {
				gauge(ch, topicPartitionUsesPreferredReplica, boolValue(leader.ID() == replicas[0]), topic, p)
			}
			if errReplicas == nil && errISR == nil {
				gauge(ch, topicUnderReplicatedPartition, boolValue(len(isr) < len(replicas)), topic, p)
			}
		}
	}
	e.collectGroups(ch, newest)
}

func (e *Exporter) collectGroups(ch chan<- prometheus.Metric, newest map[string]map[int32]int64) {
	groups, err := e.admin.ListConsumerGroups()
	if err != nil {
		log.Printf("cannot list consumer groups: %v", err)
		return
	}
	var names []string
	for name := range groups {
		if e.filters.groupWanted(name) {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return
	}
	if described, err := e.admin.DescribeConsumerGroups(names); err == nil {
		for _, group := range described {
			gauge(ch, consumergroupMembers, float64(len(group.Members)), group.GroupId)
		}
	}
	for _, group := range names {
		offsets, err := e.admin.ListConsumerGroupOffsets(group, nil)
		if err != nil {
			log.Printf("cannot fetch the offsets of group %s: %v", group, err)
			continue
		}
		for topic, blocks := range offsets.Blocks {
			if !e.filters.topicWanted(topic) {
				continue
			}
			var offsetSum, lagSum int64
			seen := false
			for partition, block := range blocks {
				if block == nil || block.Offset < 0 {
					continue // no committed offset for this partition
				}
				seen = true
				p := strconv.FormatInt(int64(partition), 10)
				gauge(ch, consumergroupCurrentOffset, float64(block.Offset), group, topic, p)
				offsetSum += block.Offset
				if end, ok := newest[topic][partition]; ok {
					lag := end - block.Offset
					gauge(ch, consumergroupLag, float64(lag), group, topic, p)
					lagSum += lag
				}
			}
			if seen {
				gauge(ch, consumergroupCurrentOffsetSum, float64(offsetSum), group, topic)
				gauge(ch, consumergroupLagSum, float64(lagSum), group, topic)
			}
		}
	}
}

// tlsConfig builds a TLS client or server configuration as kafka_exporter does: the CA file (when given)
// is the only trust anchor, the certificate and key (when given) are presented.
func tlsConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	config := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate in it", caFile)
		}
		config.RootCAs = pool
		config.ClientCAs = pool
	}
	if certFile != "" || keyFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		config.Certificates = []tls.Certificate{pair}
	}
	return config, nil
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func main() {
	var servers stringList
	flag.Var(&servers, "kafka.server", "Address (host:port) of Kafka server; repeat for several.")
	kafkaVersion := flag.String("kafka.version", sarama.V2_0_0_0.String(), "Kafka broker version")
	listen := flag.String("web.listen-address", ":9308", "Address to listen on for web interface and telemetry.")
	metricsPath := flag.String("web.telemetry-path", "/metrics", "Path under which to expose metrics.")
	topicFilter := flag.String("topic.filter", ".*", "Regex that determines which topics to collect.")
	topicExclude := flag.String("topic.exclude", "^$", "Regex that determines which topics to exclude.")
	groupFilter := flag.String("group.filter", ".*", "Regex that determines which consumer groups to collect.")
	groupExclude := flag.String("group.exclude", "^$", "Regex that determines which consumer groups to exclude.")
	clientID := flag.String("kafka.client-id", "kafka_exporter", "Client ID used to connect to Kafka.")
	useTLS := flag.Bool("tls.enabled", false, "Connect to Kafka using TLS.")
	tlsServerName := flag.String("tls.server-name", "", "Used to verify the hostname on the returned certificates unless tls.insecure-skip-tls-verify is given. The kafka server's name should be given.")
	tlsCAFile := flag.String("tls.ca-file", "", "The optional certificate authority file for Kafka TLS client authentication.")
	tlsCertFile := flag.String("tls.cert-file", "", "The optional certificate file for Kafka client authentication.")
	tlsKeyFile := flag.String("tls.key-file", "", "The optional key file for Kafka client authentication.")
	tlsInsecure := flag.Bool("tls.insecure-skip-tls-verify", false, "If true, the server's certificate will not be checked for validity. This will make your HTTPS connections insecure.")
	serverTLS := flag.Bool("server.tls.enabled", false, "Enable TLS for web server.")
	serverMutualTLS := flag.Bool("server.tls.mutual-auth-enabled", false, "Enable TLS client mutual authentication.")
	serverCAFile := flag.String("server.tls.ca-file", "", "The certificate authority file for the web server.")
	serverCertFile := flag.String("server.tls.cert-file", "", "The certificate file for the web server.")
	serverKeyFile := flag.String("server.tls.key-file", "", "The key file for the web server.")
	showVersion := flag.Bool("version", false, "Show version and exit.")
	flag.Parse()
	if *showVersion {
		fmt.Println("kafka_exporter, version 1.9.0 (payment-platform STAND-IN, not danielqsj/kafka_exporter)")
		return
	}
	if len(servers) == 0 {
		servers = stringList{"kafka:9092"}
	}
	log.SetFlags(log.LstdFlags | log.LUTC)
	log.Printf("kafka_exporter STAND-IN (payment-platform; not danielqsj/kafka_exporter): servers %s", servers.String())

	version, err := sarama.ParseKafkaVersion(*kafkaVersion)
	if err != nil {
		log.Fatalf("--kafka.version=%s: %v", *kafkaVersion, err)
	}
	config := sarama.NewConfig()
	config.ClientID = *clientID
	config.Version = version
	config.Metadata.Full = true
	config.Net.DialTimeout = 10 * time.Second
	if *useTLS {
		clientTLS, err := tlsConfig(*tlsCAFile, *tlsCertFile, *tlsKeyFile)
		if err != nil {
			log.Fatalf("Kafka TLS configuration: %v", err)
		}
		clientTLS.ServerName = *tlsServerName // empty: the host of each broker address, as Go's tls.Dial does
		clientTLS.InsecureSkipVerify = *tlsInsecure
		config.Net.TLS.Enable = true
		config.Net.TLS.Config = clientTLS
	}
	client, err := sarama.NewClient(servers, config)
	if err != nil {
		// As kafka_exporter: no broker at start is fatal; the container's restart policy retries.
		fmt.Fprintf(os.Stderr, "Error Init Kafka Client: %v\n", err)
		os.Exit(1)
	}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		log.Fatalf("cannot create the cluster admin client: %v", err)
	}
	exporter := &Exporter{
		client: client,
		admin:  admin,
		filters: filters{
			topic:        regexp.MustCompile(*topicFilter),
			topicExclude: regexp.MustCompile(*topicExclude),
			group:        regexp.MustCompile(*groupFilter),
			groupExclude: regexp.MustCompile(*groupExclude),
		},
	}
	registry := prometheus.NewRegistry()
	registry.MustRegister(exporter)

	http.Handle(*metricsPath, promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	http.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok"))
	})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		_, _ = fmt.Fprintf(w, "<html><head><title>Kafka Exporter (stand-in)</title></head><body>"+
			"<h1>Kafka Exporter (payment-platform stand-in)</h1><p><a href=%q>Metrics</a></p></body></html>", *metricsPath)
	})
	log.Printf("listening on %s", *listen)
	if !*serverTLS {
		log.Fatal(http.ListenAndServe(*listen, nil))
	}
	webTLS, err := tlsConfig(*serverCAFile, "", "")
	if err != nil {
		log.Fatalf("web server TLS configuration: %v", err)
	}
	if *serverMutualTLS {
		webTLS.ClientAuth = tls.RequireAndVerifyClientCert
	}
	server := &http.Server{Addr: *listen, TLSConfig: webTLS}
	log.Fatal(server.ListenAndServeTLS(*serverCertFile, *serverKeyFile))
}
