// Threats found in ad creatives: in-browser cryptominers (the "excessive CPU usage" exchanges
// audit for) and known malvertising kits. Plain strings only, so the fallback matcher reads them too.
rule Cryptominer_Coinhive
{
    meta:
        description = "Coinhive-style in-browser cryptominer"
    strings:
        $a = "coinhive.min.js" nocase
        $b = "CoinHive.Anonymous"
        $c = "CoinHive.User"
        $d = "cryptonight.wasm" nocase
    condition:
        any of them
}

rule Cryptominer_Pool_Socket
{
    meta:
        description = "websocket to a public Monero mining pool"
    strings:
        $a = "wss://pool.minexmr.com" nocase
        $b = "wss://xmr.pool.minergate.com" nocase
        $c = "stratum+tcp://" nocase
    condition:
        any of them
}
