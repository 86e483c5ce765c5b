"""AWS API responses shaped like the real ones (EC2 DescribeInstanceTypes / DescribeSpotPriceHistory,
Price List GetProducts), for botocore Stubber."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
START = NOW - timedelta(days=7)
PRICING_FILTERS = [
    {"Type": "TERM_MATCH", "Field": f, "Value": v}
    for f, v in (("regionCode", "us-east-1"), ("operatingSystem", "Linux"), ("tenancy", "Shared"),
                 ("preInstalledSw", "NA"), ("capacitystatus", "Used"), ("licenseModel", "No License required"),
                 ("marketoption", "OnDemand"))
]


def clients(region: str = "us-east-1"):
    kw = dict(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret")
    return (boto3.client("ec2", region_name=region, **kw), boto3.client("pricing", region_name="us-east-1", **kw))


def gpu_type(name, vcpu, mem_mib, gpu_name, count, gpu_mib, maker="NVIDIA", logical=None, partition=None):
    gpu = {"Name": gpu_name, "Manufacturer": maker, "Count": count, "MemoryInfo": {"SizeInMiB": gpu_mib}}
    if logical is not None:
        gpu.update(LogicalGpuCount=logical, GpuPartitionSize=partition)
    return {
        "InstanceType": name, "CurrentGeneration": True, "SupportedUsageClasses": ["on-demand", "spot"],
        "VCpuInfo": {"DefaultVCpus": vcpu}, "MemoryInfo": {"SizeInMiB": mem_mib},
        "GpuInfo": {"Gpus": [gpu], "TotalGpuMemoryInMiB": gpu_mib * max(count, 1)},
    }


def cpu_type(name, vcpu, mem_mib):
    return {"InstanceType": name, "CurrentGeneration": True, "SupportedUsageClasses": ["on-demand", "spot"],
            "VCpuInfo": {"DefaultVCpus": vcpu}, "MemoryInfo": {"SizeInMiB": mem_mib}}


def with_placement(info, arches, enis_per_card, ipv4_per_eni):
    """Add ProcessorInfo and NetworkInfo as DescribeInstanceTypes gives them (card 0 is the default)."""
    info = dict(info, ProcessorInfo={"SupportedArchitectures": list(arches), "SustainedClockSpeedInGhz": 3.0})
    cards = [{"NetworkCardIndex": i, "NetworkPerformance": "100 Gigabit", "MaximumNetworkInterfaces": n}
             for i, n in enumerate(enis_per_card)]
    info["NetworkInfo"] = {"NetworkPerformance": "100 Gigabit", "MaximumNetworkInterfaces": sum(enis_per_card),
                           "MaximumNetworkCards": len(cards), "DefaultNetworkCardIndex": 0, "NetworkCards": cards,
                           "Ipv4AddressesPerInterface": ipv4_per_eni, "Ipv6AddressesPerInterface": ipv4_per_eni}
    return info


def neuron_type(name, vcpu, mem_mib, device, count, dev_mib):
    info = cpu_type(name, vcpu, mem_mib)
    info["NeuronInfo"] = {"NeuronDevices": [{"Count": count, "Name": device, "CoreInfo": {"Count": 2, "Version": 2},
                                             "MemoryInfo": {"SizeInMiB": dev_mib}}],
                          "TotalNeuronDeviceMemoryInMiB": count * dev_mib}
    return info


PAGE_1 = [
    # p5.48xlarge: 32 network cards, the default one with 2 ENIs of 50 addresses (100 pods)
    with_placement(gpu_type("p5.48xlarge", 192, 2097152, "H100", 8, 81920), ["x86_64"], [2] + [1] * 31, 50),
    with_placement(cpu_type("m7i.large", 2, 8192), ["x86_64"], [3], 10),
    with_placement(cpu_type("m7g.large", 2, 8192), ["arm64"], [3], 10),
    cpu_type("t2.micro", 1, 1024),  # out of scope: neither GPU nor a catalog CPU family
]
PAGE_2 = [
    gpu_type("g6f.large", 2, 8192, "L4", 0, 2861, logical=1, partition=0.125),
    gpu_type("g6e.xlarge", 4, 32768, "L40S", 1, 45776),
    neuron_type("inf2.xlarge", 4, 16384, "Inferentia2", 1, 32768),
    gpu_type("x1gpu.xlarge", 4, 16384, "Z900", 1, 16384),  # an NVIDIA GPU without a spec: left out
]


def price_item(instance_type: str, usd: str, sku: str = "SKU") -> str:
    """One PriceList entry: a JSON *string*, as the Price List Query API returns it."""
    return json.dumps({
        "product": {"productFamily": "Compute Instance", "sku": sku, "attributes": {
            "instanceType": instance_type, "regionCode": "us-east-1", "operatingSystem": "Linux",
            "tenancy": "Shared", "preInstalledSw": "NA", "capacitystatus": "Used", "vcpu": "192",
            "memory": "2048 GiB", "licenseModel": "No License required", "marketoption": "OnDemand"}},
        "serviceCode": "AmazonEC2",
        "terms": {"OnDemand": {f"{sku}.JRTCKXETXF": {
            "sku": sku, "offerTermCode": "JRTCKXETXF", "effectiveDate": "2026-11-01T00:00:00Z", "termAttributes": {},
            "priceDimensions": {f"{sku}.JRTCKXETXF.6YS6EN2CT7": {
                "unit": "Hrs", "beginRange": "0", "endRange": "Inf", "appliesTo": [],
                "rateCode": f"{sku}.JRTCKXETXF.6YS6EN2CT7",
                "description": f"${usd} per On Demand Linux {instance_type} Instance Hour",
                "pricePerUnit": {"USD": usd}}}}}},
        "version": "20261101000000", "publicationDate": "2026-11-01T00:00:00Z",
    })


def spot_row(instance_type, az, price, when):
    return {"AvailabilityZone": az, "InstanceType": instance_type, "ProductDescription": "Linux/UNIX",
            "SpotPrice": price, "Timestamp": when}
