-- Each perfflow service creates its own schema (perfflow_<service>) at start.
CREATE USER IF NOT EXISTS 'perfflow'@'%' IDENTIFIED BY 'dev-only-password';
GRANT ALL PRIVILEGES ON `perfflow\_%`.* TO 'perfflow'@'%';
