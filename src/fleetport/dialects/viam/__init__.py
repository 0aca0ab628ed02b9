"""The Viam fleet-management dialect: viam.app.v1.AppService and proto.rpc.v1.AuthService over
gRPC, served to the unmodified viam-sdk AppClient."""
