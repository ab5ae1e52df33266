"""svc_fleet: bot containers, bot control over MQTT, strategy library, bot runs."""
