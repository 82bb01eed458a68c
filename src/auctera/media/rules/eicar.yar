// The EICAR anti-virus test file (https://www.eicar.org/download-anti-malware-testfile/):
// every scanner must flag it, so it proves the pipeline scans what is uploaded.
rule EICAR_Test_File
{
    meta:
        description = "EICAR anti-virus test signature"
    strings:
        $eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    condition:
        $eicar
}
