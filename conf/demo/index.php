<?php
// tsfpm demo page: shows which SAPI and which PHP child served the request.
header('Content-Type: text/html; charset=utf-8');
$h = static fn(string $s): string => htmlspecialchars($s, ENT_QUOTES, 'UTF-8');
?>
<!doctype html>
<html>
<head><title>tsfpm demo</title></head>
<body>
<h1>tsfpm demo pool</h1>
<table>
<tr><th>PHP_SAPI</th><td><?= $h(PHP_SAPI) ?></td></tr>
<tr><th>PHP version</th><td><?= $h(PHP_VERSION) ?></td></tr>
<tr><th>child pid</th><td><?= getmypid() ?></td></tr>
<tr><th>request URI</th><td><?= $h($_SERVER['REQUEST_URI'] ?? '') ?></td></tr>
<tr><th>script</th><td><?= $h($_SERVER['SCRIPT_FILENAME'] ?? '') ?></td></tr>
</table>
<p><a href="hello.php">hello.php</a> · <a href="info.php">info.php</a></p>
</body>
</html>
